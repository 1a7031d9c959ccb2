"""One module per ``quotewire`` sub-command."""
