package format

import "encoding/binary"

// Domain strings: the first element of each kind of associated data. They
// differ, so a field's associated data never equals a data key's.
const (
	DomainDEK   = "accountvault/v1/dek"
	DomainField = "accountvault/v1/field"
)

// ColumnNames are the names bound into each field's associated data, in
// column order.
var ColumnNames = [...]string{"access_token", "refresh_token", "id_token"}

const maxColumnName = len("refresh_token")

// RowAD holds the associated data of one row in a single buffer: the data
// key's, and the fields' (which differ only in their last element, the
// column name).
//
// Each element is its length as a uint32, big-endian, then its bytes:
//
//	DEK AD:   DomainDEK,   table, provider_id, account_id, user_id
//	field AD: DomainField, table, provider_id, account_id, user_id, column
type RowAD struct {
	buf  []byte
	dek  int // buf[:dek] is the DEK AD
	base int // buf[dek:base] is the field AD without its column
}

// RowADSize is the buffer capacity [NewRowAD] needs.
func RowADSize(table, providerID, accountID, userID string) int {
	place := 4*4 + len(table) + len(providerID) + len(accountID) + len(userID)
	return 4 + len(DomainDEK) + place + 4 + len(DomainField) + place + 4 + maxColumnName
}

// NewRowAD builds the associated data of a row in buf, whose capacity must
// be at least RowADSize of the same arguments.
func NewRowAD(buf []byte, table, providerID, accountID, userID string) RowAD {
	b := buf[:0]
	b = appendElem(b, DomainDEK)
	b = appendPlace(b, table, providerID, accountID, userID)
	dek := len(b)
	b = appendElem(b, DomainField)
	b = appendPlace(b, table, providerID, accountID, userID)
	return RowAD{buf: b, dek: dek, base: len(b)}
}

// DEK returns the data key's associated data.
func (r *RowAD) DEK() []byte { return r.buf[:r.dek:r.dek] }

// Field returns the associated data of the field in column c (an index
// into [ColumnNames]). The result is overwritten by the next call to Field.
func (r *RowAD) Field(c int) []byte {
	b := appendElem(r.buf[:r.base], ColumnNames[c])
	return b[r.dek:len(b):len(b)]
}

func appendPlace(b []byte, table, providerID, accountID, userID string) []byte {
	b = appendElem(b, table)
	b = appendElem(b, providerID)
	b = appendElem(b, accountID)
	return appendElem(b, userID)
}

func appendElem(b []byte, s string) []byte {
	n := len(b)
	b = b[:n+4+len(s)] // the capacity is reserved by RowADSize
	binary.BigEndian.PutUint32(b[n:], uint32(len(s)))
	copy(b[n+4:], s)
	return b
}
