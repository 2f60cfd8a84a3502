"""Service reports per agreement and period: objectives, tickets, maintenance, trend, actions and credits."""
