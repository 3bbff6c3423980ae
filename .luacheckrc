std = "max"
max_line_length = 120
files["spec"] = { std = "+busted" }
exclude_files = { "build", "node_modules", ".tools" }
-- the benchmark report writes long Markdown and gnuplot lines as they are
files["bench/report.lua"] = { max_line_length = 240 }
