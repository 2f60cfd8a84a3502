"""Terms that several services read: one model and one validator each (in force, maintenance, tickets, credits)."""
