"""Hardware stand-ins for tests: a fake pynvml module, a fake amdsmi module, a fake sysfs/procfs tree."""
