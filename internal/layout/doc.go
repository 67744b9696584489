// Package layout holds no code: its test keeps the import graph in the
// README's layout section equal to what `go list` reports, so the drawing
// a newcomer reads first cannot drift from the code.
//
// When the test fails it prints the block to paste between the README's
// "import graph" markers.
package layout
