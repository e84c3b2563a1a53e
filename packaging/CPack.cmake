# CPack.cmake - the Debian package: `cpack -G DEB` in a build tree (or
# packaging/build-deb.sh, which also passes Debian's hardening flags and runs
# lintian). Included from the top CMakeLists.txt after the targets exist.
#
# What the package installs (packaging/README.md says why each file is there):
#   /usr/bin/station
#   /usr/share/man/man1/station.1.gz, /usr/share/man/man5/station.yaml.5.gz
#   /etc/station/station.yaml                   a conffile: dpkg keeps local edits
#   /usr/share/doc/station/                      copyright, changelog.Debian.gz, docs/*.md, examples/
#   /lib/systemd/system/station-serial.service   the headless serial server (sandboxed)
#   /lib/systemd/system/station-console@.service the kiosk console on a tty
#   /lib/udev/rules.d/60-station-serial.rules    USB-serial adapters for the station user
#   /lib/udev/rules.d/61-station-stick.rules     USB sticks mount themselves under /media/station
#   /usr/lib/station/station-stick-mount         the mount and eject helper that rule and the console run
#   /usr/share/polkit-1/rules.d/50-station-stick.rules   the station user may eject sticks, nothing else
# and creates, from postinst, the system user and group `station` with its home
# /var/lib/station (0750), where the station lays out its journal (0700).
include(GNUInstallDirs)
set(STATION_PKG ${CMAKE_CURRENT_LIST_DIR})
set(STATION_PKG_OUT ${CMAKE_BINARY_DIR}/packaging)
set(STATION_DOCDIR share/doc/station)
file(MAKE_DIRECTORY ${STATION_PKG_OUT})

# Man pages and the Debian changelog, compressed the way lintian wants them
# (gzip -9n: best compression, no name or time stamp in the header).
set(station_gz_outputs)
foreach(src man/station.1 man/station.yaml.5 debian/changelog)
  get_filename_component(name ${src} NAME)
  if(name STREQUAL "changelog")
    set(name changelog.Debian)
  endif()
  add_custom_command(OUTPUT ${STATION_PKG_OUT}/${name}.gz
    COMMAND gzip -9n -c ${STATION_PKG}/${src} > ${STATION_PKG_OUT}/${name}.gz
    DEPENDS ${STATION_PKG}/${src} VERBATIM)
  list(APPEND station_gz_outputs ${STATION_PKG_OUT}/${name}.gz)
endforeach()
add_custom_target(station_package_files ALL DEPENDS ${station_gz_outputs})

install(TARGETS station RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${STATION_PKG_OUT}/station.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${STATION_PKG_OUT}/station.yaml.5.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man5)
install(FILES ${STATION_PKG}/debian/copyright ${STATION_PKG_OUT}/changelog.Debian.gz
  DESTINATION ${STATION_DOCDIR})
install(FILES ${CMAKE_SOURCE_DIR}/README.md DESTINATION ${STATION_DOCDIR})
install(DIRECTORY ${CMAKE_SOURCE_DIR}/docs/ DESTINATION ${STATION_DOCDIR}/docs FILES_MATCHING PATTERN "*.md")
install(FILES ${STATION_PKG}/station.yaml DESTINATION ${STATION_DOCDIR}/examples)
# System files go to their Debian places whatever the prefix: they only make
# sense in the package (a `make install` into /usr/local installs them too).
install(FILES ${STATION_PKG}/station.yaml DESTINATION /etc/station)
install(FILES ${STATION_PKG}/systemd/station-serial.service ${STATION_PKG}/systemd/station-console@.service
  DESTINATION /lib/systemd/system)
install(FILES ${STATION_PKG}/udev/60-station-serial.rules ${STATION_PKG}/udev/61-station-stick.rules
  DESTINATION /lib/udev/rules.d)
install(PROGRAMS ${STATION_PKG}/stick/station-stick-mount DESTINATION lib/station)
install(FILES ${STATION_PKG}/polkit/50-station-stick.rules DESTINATION share/polkit-1/rules.d)
install(FILES ${STATION_PKG}/debian/lintian-overrides DESTINATION share/lintian/overrides RENAME station)

# Depends: computed by dpkg-shlibdeps from what the binary really links, plus
# what the maintainer scripts use (adduser). libncursesw6 is listed by hand
# until the console (`station console`, station/console/) links it; once a
# target the program links names curses, dpkg-shlibdeps finds it by itself.
set(station_links_curses FALSE)
set(station_link_queue station)
set(station_link_seen)
while(station_link_queue)
  list(POP_FRONT station_link_queue t)
  if(t IN_LIST station_link_seen)
    continue()
  endif()
  list(APPEND station_link_seen ${t})
  if(t MATCHES "curses|tinfo")
    set(station_links_curses TRUE)
  elseif(TARGET ${t})
    get_target_property(type ${t} TYPE)
    if(NOT type STREQUAL "INTERFACE_LIBRARY")
      get_target_property(libs ${t} LINK_LIBRARIES)
      if(libs)
        list(APPEND station_link_queue ${libs})
      endif()
    endif()
    get_target_property(ilibs ${t} INTERFACE_LINK_LIBRARIES)
    if(ilibs)
      list(APPEND station_link_queue ${ilibs})
    endif()
  endif()
endwhile()
set(station_depends "adduser")
if(NOT station_links_curses)
  string(APPEND station_depends ", libncursesw6 (>= 6)")
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME station)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "Station team")
set(CPACK_PACKAGE_CONTACT "Station team <station@example.com>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "offline certificate signing station for a factory line")
set(CPACK_PACKAGE_DESCRIPTION "The station sits next to a manufacturing line, air-gapped. It holds the\nfactory's local device CA key inside an HSM reached through PKCS#11 (SoftHSM,\na TPM through tpm2-pkcs11, or a hardware token), takes device CSRs from USB\nsticks and serial lines, checks each against policy, signs it with the\ndevice profile, and keeps a signed, tamper-evident journal of everything\nit issued and refused.")
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "${station_depends}")
# polkitd: the console's eject (packaging/polkit/); udisks2 powers an ejected stick off.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "softhsm2 | opensc | libtpm2-pkcs11-1, polkitd")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "libtpm2-pkcs11-tools, tpm2-tools, opensc, udisks2")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${STATION_PKG}/debian/conffiles ${STATION_PKG}/debian/postinst
  ${STATION_PKG}/debian/prerm ${STATION_PKG}/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS OFF)
# Only what install() names: no directories of the build host's prefix.
set(CPACK_DEBIAN_PACKAGE_DEBUG OFF)
include(CPack)
