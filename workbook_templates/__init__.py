"""Data package: the layouts shipped with xlplan (see the README, "Layouts as files")."""
