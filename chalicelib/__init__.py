"""Image Service: everything the Lambdas run besides app.py."""
