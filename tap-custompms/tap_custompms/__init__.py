"""Singer tap for Custompms, built with the Meltano Singer SDK."""
