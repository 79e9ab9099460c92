package console

import (
	"context"
	"fmt"
	"slices"
	"testing"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

const admin = "test-admin"

// An admin manages people and villages from the page: a new volunteer
// with her village, a move to another village, a new village; the server
// holds each as the page said it.
func TestAdminManagesPeopleAndVillages(t *testing.T) {
	s := startSeason(t)
	if err := s.Store.CreateUser(context.Background(), admin, store.Admin, nil); err != nil {
		t.Fatal(err)
	}
	d := newDevice(t, s.URL, laptop)
	d.signIn(s.code(admin))
	d.click("[data-test=nav-people]")
	d.waitPage("people")
	api := s.api(admin)
	user := func(name string) *v1.User {
		us := api.users()
		if i := slices.IndexFunc(us, func(u *v1.User) bool { return u.GetName() == name }); i >= 0 {
			return us[i]
		}
		return nil
	}

	d.fill("[data-test=new-user-name]", "王芳")
	d.fill("[data-test=new-user-role]", "volunteer")
	d.fill("[data-test=new-user-villages]", "Nanxiang")
	d.click("[data-test=new-user-create]")
	row := `[data-test=user][data-user="王芳"]`
	d.WaitFor("the new volunteer listed", fmt.Sprintf(`!!document.querySelector(%q)`, row))
	if u := user("王芳"); u == nil || u.GetRole() != "volunteer" || !slices.Equal(u.GetVillages(), []string{"南香村"}) {
		t.Fatalf("the server has the new volunteer as %v, want a volunteer of 南香村", u)
	}

	d.waitPage("people")
	// The creation left a notice: the move's replaces it.
	before, _ := d.text("[data-test=notice]")
	d.fill(row+" [data-test=set-villages-input]", "东旺村")
	d.click(row + " [data-test=set-villages]")
	d.WaitFor("the move saved", fmt.Sprintf(`(() => { const n = document.querySelector("[data-test=notice]");
  return document.body.hasAttribute("data-ready") && n && n.textContent !== %q })()`, before))
	if u := user("王芳"); !slices.Equal(u.GetVillages(), []string{"东旺村"}) {
		t.Errorf("after the move the server has her villages as %v, want [东旺村]", u.GetVillages())
	}

	d.waitPage("people")
	d.fill("[data-test=new-village-name]", "新村")
	d.fill("[data-test=new-village-pinyin]", "Xincun")
	d.click("[data-test=new-village-add]")
	d.WaitFor("the new village listed", `!!document.querySelector('[data-test=village][data-village="新村"]')`)
	vs := api.villages()
	if !slices.ContainsFunc(vs, func(v *v1.Village) bool { return v.GetName() == "新村" && v.GetPinyin() == "Xincun" }) {
		t.Errorf("the server's villages after adding 新村: %v", vs)
	}
}
