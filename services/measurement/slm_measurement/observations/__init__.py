"""Customer observations: recorded as fact on an agreement, annotated by the provider, counted by the terms."""
