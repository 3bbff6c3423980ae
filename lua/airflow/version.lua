--- The library's version: the one place it is written (checked against the rockspec).
return "0.1.0"
