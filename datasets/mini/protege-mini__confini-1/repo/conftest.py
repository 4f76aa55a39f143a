"""Root-level pytest configuration; its presence puts the project root on sys.path."""
