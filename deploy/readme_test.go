package deploy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// README's Operate section explains every alert of alerts.yml, in a table
// row with its severity, what it means and what to do, and names no alert
// that does not exist; deploy/OPERATE.md names every alert too.
func TestEveryAlertIsExplained(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, operate, ok := strings.Cut(string(raw), "\n## Operate")
	if !ok {
		t.Fatal("README has no Operate section")
	}
	if next := strings.Index(operate, "\n## "); next >= 0 {
		operate = operate[:next]
	}
	rows := map[string][]string{} // alert → cells
	for _, line := range strings.Split(operate, "\n") {
		if !strings.HasPrefix(line, "| Earshot") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		name, _, _ := strings.Cut(cells[0], " ")
		rows[name] = cells
	}
	guide, err := os.ReadFile("OPERATE.md")
	if err != nil {
		t.Fatal(err)
	}
	alerts := 0
	for _, g := range loadAlerts(t).Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts++
			cells, ok := rows[r.Alert]
			switch {
			case !ok:
				t.Errorf("README's Operate table does not explain %s", r.Alert)
			case len(cells) != 3 || cells[1] == "" || cells[2] == "":
				t.Errorf("README's row for %s lacks what it means or what to do: %q", r.Alert, cells)
			case !strings.Contains(cells[0], "("+r.Labels["severity"]+")"):
				t.Errorf("README gives %s as %q; alerts.yml says severity %s", r.Alert, cells[0], r.Labels["severity"])
			}
			delete(rows, r.Alert)
			if !strings.Contains(string(guide), r.Alert) {
				t.Errorf("deploy/OPERATE.md does not name %s", r.Alert)
			}
		}
	}
	if alerts < 6 {
		t.Errorf("alerts.yml has %d alerts; issue 7 lists six", alerts)
	}
	for name := range rows {
		t.Errorf("README explains %s, which alerts.yml does not have", name)
	}
}
