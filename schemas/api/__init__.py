"""Request and response models of the REST API; never reused as events or rows."""
