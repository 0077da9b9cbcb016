"""Helpers shared by the test tiers: free ports, real server processes, the Pulumi mock harness."""
