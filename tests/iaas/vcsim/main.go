// vcsim for bosh-py's vSphere tests: govmomi's simulator (Debian's golang-github-vmware-govmomi-dev)
// serving one vCenter inventory over TLS on the given address, with one login.
//
// The credentials come from the environment (VCSIM_USERNAME, VCSIM_PASSWORD) so they never show in
// a process listing; the listening host:port is the first line on stdout. SIGTERM or SIGINT stops
// the server and removes the datastore directories the model made under $TMPDIR.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"github.com/vmware/govmomi/simulator"
)

func main() {
	listen := flag.String("l", "127.0.0.1:0", "address to listen on")
	certFile := flag.String("tlscert", "", "PEM certificate to serve")
	keyFile := flag.String("tlskey", "", "PEM private key of the certificate")
	flag.Parse()

	username, password := os.Getenv("VCSIM_USERNAME"), os.Getenv("VCSIM_PASSWORD")
	if username == "" || password == "" || *certFile == "" || *keyFile == "" {
		log.Fatal("need VCSIM_USERNAME, VCSIM_PASSWORD, -tlscert and -tlskey")
	}
	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		log.Fatal(err)
	}

	model := simulator.VPX() // one datacenter DC0: cluster DC0_C0, standalone host DC0_H0, LocalDS_0, DC0_DVPG0
	model.ClusterHost = 1
	model.Machine = 1
	if err := model.Create(); err != nil {
		log.Fatal(err)
	}
	model.Service.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	model.Service.Listen = &url.URL{Host: *listen, User: url.UserPassword(username, password)}
	server := model.Service.NewServer()
	fmt.Println(server.URL.Host)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
	server.Close()
	model.Remove()
}
