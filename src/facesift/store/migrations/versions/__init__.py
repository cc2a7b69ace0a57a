"""The revision scripts, oldest first: v<revision>_<what it changes>.py."""
