"""Pure SLO maths: windows, histograms, budgets, burn rates, alerts, forecasts and statuses."""
