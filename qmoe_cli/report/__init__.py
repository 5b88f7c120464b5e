"""Tables, figures and reports built from run folders."""
