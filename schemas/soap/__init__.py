"""Data, not code: the WSDL of the legacy provincial eDoc SOAP service, as the hub reads it."""
