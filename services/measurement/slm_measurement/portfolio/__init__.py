"""The portfolio: the senior manager's tenant-wide desk, and the proposals it drafts for the next period."""
