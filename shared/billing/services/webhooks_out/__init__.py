"""ERP webhooks (issue 17): endpoints a tenant registers, and the deliverer that posts each one its events
as Standard Webhooks, one at a time in event-id order (docs/events.md)."""
