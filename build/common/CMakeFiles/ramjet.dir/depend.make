# Empty dependencies file for ramjet.
# This may be replaced when dependencies are built.
