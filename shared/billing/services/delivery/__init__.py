"""Delivery: the sender that takes claimed contacts to the gateway at a safe pace."""
