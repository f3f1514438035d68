module github.com/provisiond/provisiond

go 1.26
