"""Party contacts and escalation levels: from party events, or fetched from the agreements service."""
