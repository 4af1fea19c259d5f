"""Reporting: the pictures and documents a reader looks at (overlay montages, orthogonal views, animations,
plots, the QC panel, the HTML and PDF report). Data in, documents out, no analysis: the workflows read an output
folder and hand its images and tables to these functions.
"""
