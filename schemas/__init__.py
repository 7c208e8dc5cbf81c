"""Data, not code: the hub's edXML profile XSD, WSDLs of SOAP peers, code lists."""
