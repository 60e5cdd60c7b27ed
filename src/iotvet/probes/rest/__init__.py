"""The REST probe: API description -> operations -> objects per identity -> cells and findings."""
