"""Singer target writing Asana, built with the Meltano Singer SDK."""
