// placeholder: being written (issue #15)
