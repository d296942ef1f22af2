"""HTTP helpers shared by the function entry points: parsing triggers, auth, problem responses."""
