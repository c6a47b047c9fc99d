"""The ``elcrec`` command line."""
