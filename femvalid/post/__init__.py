"""Post-processing: stresses, quantities of interest, field output."""
