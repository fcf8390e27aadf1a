"""Singer tap for Asana, built with the Meltano Singer SDK."""
