"""Side-by-side benchmarks (ratios and simulated times, never timed assertions); run each as a script."""
