"""The web console's use cases: operators and their sign-in, and what each page reads and does."""
