package delivery

import (
	"errors"
	"fmt"
	"testing"
)

// References a browser can make up by the thousand (a forged cart cookie
// on every request) stop being recorded before the file is full: the
// sales that come after still have room.
func TestBindingLeavesRoomForSales(t *testing.T) {
	ob := obOpen(t, OutboxOptions{MaxSize: 1 << 20})
	refused := false
	for i := 0; i < 100000 && !refused; i++ {
		refs := make([]string, 50)
		for j := range refs {
			refs[j] = fmt.Sprintf("cart_forged_%d_%d", i, j)
		}
		err := ob.BindRefs(refs, "cl_1", "")
		switch {
		case errors.Is(err, ErrStorageFull):
			refused = true
		case err != nil:
			t.Fatal(err)
		}
	}
	if !refused {
		t.Fatal("the binding never stopped growing")
	}
	// One at a time, as click_cookie records them, into what is left.
	for i := 0; i < 5000; i++ {
		if err := ob.BindRefs([]string{fmt.Sprintf("cart_forged_one_%d", i)}, "cl_1", ""); err != nil && !errors.Is(err, ErrStorageFull) {
			t.Fatal(err)
		}
	}
	for i := range 20 {
		if _, err := ob.Enqueue(obSale(t, fmt.Sprintf("inv_after_%d", i), obT0)); err != nil {
			t.Fatalf("sale %d after the binding stopped: %v", i, err)
		}
	}
}
