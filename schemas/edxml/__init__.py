"""The hub's own edXML profile XSD (see README.md here)."""
