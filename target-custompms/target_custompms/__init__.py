"""Singer target writing Custompms, built with the Meltano Singer SDK."""
