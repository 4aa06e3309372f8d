"""Print-fleet-to-reforestation pipeline: MPS Monitor meters to PrintReleaf deposits."""
