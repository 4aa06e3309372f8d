"""Monthly rollup: pages and trees per account, Certificates of Reforestation."""
