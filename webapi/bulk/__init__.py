"""The Batch API's parts: files, batch records, line validation, and the driver that runs them."""
