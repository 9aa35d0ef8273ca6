# The median of the numbers read, one a line, sorted (sort -g); "nan" for none.
# Used by scripts/bench and scripts/ab.
{ a[NR] = $1 }
END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }
