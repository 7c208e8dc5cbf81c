"""The edXML toolkit: read, write, validate and relay QCVN 102:2016 packages. Pure code, no I/O."""
