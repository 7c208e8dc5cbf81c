"""Sample agency registry data (see ``hub.agency.loading``)."""
