"""ITSM connectors: ServiceNow, Jira Service Management and PagerDuty, with their ticket mapping."""
