"""Model: HRM-DLP (model.hrm), its losses, training data, trainer and the metrics training validation reports."""
