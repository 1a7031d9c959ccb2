"""The quotewire application: the command line that assembles core, the adapters and the API."""
