package sqlite

import "testing"

// TestMigrationList checks the shape later steps rely on: versions 1, 2, …
// in order, the last one being SchemaVersion.
func TestMigrationList(t *testing.T) {
	for i, m := range migrations {
		if m.version != i+1 || m.name == "" || m.up == nil {
			t.Errorf("migrations[%d] is version %d (%q), want version %d with a name and a step", i, m.version, m.name, i+1)
		}
	}
	if last := migrations[len(migrations)-1].version; last != SchemaVersion {
		t.Errorf("SchemaVersion %d, last migration %d", SchemaVersion, last)
	}
}
